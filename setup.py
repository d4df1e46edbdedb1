"""Build hook: the wheel carries the report's notebooks and the bundled sample.

The notebooks stay at the top of the repository (``notebooks/NN-topic.ipynb``, a fixed layout)
and the sample in ``data/sample/``, outside the package, so a plain wheel would hold neither and
an installed ``cxanalysis report`` would find nothing to run. ``build_py`` therefore copies them
into the built package, as ``cxanalysis/_notebooks/`` and ``cxanalysis/_data/sample/``, where
``cxanalysis.resources`` finds them. Editable installs skip the copy: they read the checkout's
folders directly. Everything else about the build is declared in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: folder inside the package -> (folder in the checkout, files to copy)
BUNDLED = {
    "_notebooks": ("notebooks", "[0-9][0-9]-*.ipynb"),
    "_data/sample": ("data/sample", "customers.csv"),
}


class BuildPyWithNotebooks(build_py):
    """``build_py`` that also copies the notebooks and the sample into the built package."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for dest, (src, pattern) in BUNDLED.items():
            target = Path(self.build_lib, "cxanalysis", dest)
            shutil.rmtree(target, ignore_errors=True)  # no stale copy of a removed notebook
            target.mkdir(parents=True)
            for path in self._sources(src, pattern):
                self.copy_file(str(path), str(target / path.name))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(Path(self.build_lib, "cxanalysis", dest, p.name))
                          for dest, (src, pattern) in BUNDLED.items()
                          for p in self._sources(src, pattern)]

    @staticmethod
    def _sources(src, pattern):
        found = sorted((ROOT / src).glob(pattern))
        if not found:
            raise FileNotFoundError(f"No {pattern} in {ROOT / src}: a wheel without them cannot "
                                    "run the report. Build from the repository or its sdist.")
        return found


setup(cmdclass={"build_py": BuildPyWithNotebooks})
