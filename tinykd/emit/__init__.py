"""C sources for firmware: the model as an aligned const array with its metadata, and its op resolver.

    from tinykd.emit import export_c, write_c_sources, ModelSource, TensorSpec
"""

from tinykd.emit.c_model import ModelSource, TensorSpec, model_hash, parse_labels, parse_model_array
from tinykd.emit.identifiers import c_identifier, c_string_literal
from tinykd.emit.op_resolver import render_model_ops_h, resolver_methods
from tinykd.emit.write import export_c, write_c_sources

__all__ = [
    "ModelSource",
    "TensorSpec",
    "c_identifier",
    "c_string_literal",
    "export_c",
    "model_hash",
    "parse_labels",
    "parse_model_array",
    "render_model_ops_h",
    "resolver_methods",
    "write_c_sources",
]
