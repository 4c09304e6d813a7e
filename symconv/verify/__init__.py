"""symconv.verify."""
