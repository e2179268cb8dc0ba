"""minisora: Sora's text-to-video recipe at laptop scale."""
