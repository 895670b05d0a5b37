"""contractgen: turn a BPO deal sheet into a draft services agreement."""

__version__ = "0.1.0"
