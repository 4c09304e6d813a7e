"""symconv.plot."""
