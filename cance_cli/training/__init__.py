"""Training loops and the estimators that wrap them."""
