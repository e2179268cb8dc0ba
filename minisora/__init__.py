"""minisora: Sora's text-to-video recipe at laptop scale.

`from minisora import Pipeline` is resolved lazily so that `import minisora` (and the CLI's start-up)
does not pay for torch and transformers until a pipeline is actually used.
"""

__version__ = "0.1.0"
__all__ = ["Pipeline", "PipelineOutput"]


def __getattr__(name: str):
    if name in __all__:
        from minisora import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'minisora' has no attribute {name!r}")
