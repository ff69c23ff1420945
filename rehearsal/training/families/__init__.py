"""The built-in model families' torch code (pitch.py, latent.py) and their torch-free defaults.

Importing this package does not import torch; importing `pitch` or `latent` does.
"""
