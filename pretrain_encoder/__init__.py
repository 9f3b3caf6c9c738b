"""pretrain_encoder."""
