"""The cached wallet WSDL and its schema, shipped as package data.

This folder is installed as ``sogen_soap.wsdl`` so that ``importlib.resources``
finds the files in a wheel as well as in a source checkout.  It holds data
only; the loader lives in ``sogen_soap.wsdl_cache``.
"""
