"""Evaluation protocols that chain the stages on labelled data."""
