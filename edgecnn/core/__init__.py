"""The bottom layer: helpers every other part of edgecnn may import, and that import nothing above them.

``onnx_io``  reading ONNX files (one loader, one error), graph inputs, opsets, normalising old graphs
``text``     bounded lists and messages for one-line errors
"""
