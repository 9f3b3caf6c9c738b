"""CLIP-style contrastive pretraining of the vision encoder on pair shards (open_clip models and losses).

Entry points: ``flamboyance pretrain-encoder`` (``command.py``), ``train.train(config)``,
``image_tower.load_image_tower`` for the Flamingo stage, ``demo.run_demo_encoder``.
"""
