"""Workstation side: the Keras Siamese model, training, evaluation and int8 conversion.

The only package in the project that imports TensorFlow; the device never needs it.
"""
