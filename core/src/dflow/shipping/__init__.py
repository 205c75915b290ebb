"""What a Python OP takes to the interpreter that runs it (an Argo pod, an HPC job).

* :mod:`dflow.shipping.runtime`: the pod runtime as a directory named ``dflow``, the modules
  ``python -m dflow.runner`` needs (Python 3.7+, standard library only), listed in
  :data:`dflow.runner.podimport.RUNTIME_MODULES`.
* :mod:`dflow.shipping.mainsource`: the code of an OP defined in a script run as ``__main__``
  or in a Jupyter notebook, without the statements that build and submit workflows.

Both are used by the client (engines and executors), never inside a pod.
"""
