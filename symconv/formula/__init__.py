"""symconv.formula."""
