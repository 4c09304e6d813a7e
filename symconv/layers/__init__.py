"""symconv.layers."""
