"""flamingo_model."""
