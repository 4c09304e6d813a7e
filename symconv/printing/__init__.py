"""symconv.printing."""
