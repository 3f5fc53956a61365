"""Exceptions of the sparse_attn package (pure Python: importable without the
compiled extension)."""

__all__ = ["MLIRError"]


class MLIRError(Exception):
    """Invalid IR, an invalid pass pipeline or a failing pass.

    ``str(err)`` is a one-line summary followed by every MLIR diagnostic that
    was emitted, one per line, formatted ``<input>:LINE:COL: error: text``
    (attached notes follow their diagnostic as ``...: note: text`` lines).
    ``err.diagnostics`` holds the same diagnostics as a list of strings (one
    entry per diagnostic, its notes included).
    """

    def __init__(self, message, diagnostics=()):
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics)
