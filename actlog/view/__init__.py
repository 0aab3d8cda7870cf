"""The actlog view: a TensorBoard dashboard (:mod:`actlog.view.plugin`) that shows every logged
layer on one step slider and follows each filter over training.

* :mod:`actlog.view.metadata`: the summary contract, the document actlog writes at every event
  and the view reads;
* :mod:`actlog.view.data`: a run's documents turned into what the frontend asks for;
* :mod:`actlog.view.tiles`: one filter's tile cut from each logged grid (the filmstrip);
* :mod:`actlog.view.plugin`: the TensorBoard plugin, its routes and loader;
* ``static/``: the frontend, plain ES modules served as they are.

Nothing here imports Keras, TensorFlow or another backend.
"""
