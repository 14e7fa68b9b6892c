from setuptools import setup

# All metadata lives in setup.cfg; this file exists for `pip install -e .`
# on older pip versions and for tools that still call setup.py.
setup()
