"""Wan2.1 open weights in minisora's own modules: folder.py (detection, key table), vae.py, text.py
(umT5), pipeline.py (WanVideoPipeline); reference.py builds diffusers' random reference for tests."""
