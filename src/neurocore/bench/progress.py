"""Progress bars that stay quiet when output is not a terminal.

``bar(total, desc)`` gives a tqdm bar on a terminal (a plain one-line
counter when tqdm is absent) and, when stderr is redirected, a bar that
draws nothing: no stream of carriage-return frames in a log file.
"""
import sys


def is_terminal(stream=None):
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Plain:
    """A single rewritten line on a terminal, nothing elsewhere."""

    def __init__(self, total, desc, enabled):
        self.total, self.n, self.desc, self.enabled = total, 0, desc, enabled
        self._width = 0

    def set_description(self, desc):
        self.desc = desc
        self._draw()

    def update(self, n=1):
        self.n += n
        self._draw()

    def _draw(self):
        if not self.enabled:
            return
        line = f"{self.n}/{self.total} {self.desc}"[:100]
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()
        self._width = len(line)

    def close(self):
        if self.enabled and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def bar(total, desc="", enabled=None):
    """A progress bar over `total` steps on stderr; enabled=None: only when
    stderr is a terminal."""
    enabled = is_terminal() if enabled is None else enabled
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total, desc=desc, leave=False, unit="case", dynamic_ncols=True)
    return _Plain(total, desc, enabled)
