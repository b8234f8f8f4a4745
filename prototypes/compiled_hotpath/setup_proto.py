from setuptools import setup
from Cython.Build import cythonize
setup(ext_modules=cythonize("hotpath.py", compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False}), script_args=["build_ext", "--inplace", "-q"])
