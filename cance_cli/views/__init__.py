"""The views a CANCE model scores a row from, and how their opinions are combined.

* ``composite``: the NCE density of the feature map's [z, e, d] (the paper's method);
* ``input``: the NCE density of the table itself, in principal coordinates
  (:mod:`cance_cli.views.input_map`);
* ``knn``: the distance to the k-th nearest training row (:mod:`cance_cli.views.knn`).

:mod:`cance_cli.views.fusion` chooses the views from the data's shape and
combines their scores.
"""
