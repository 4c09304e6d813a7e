"""symconv.engine."""
