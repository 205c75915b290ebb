"""An emulation of Argo Workflows for conformance tests of the Argo engine. Test code only.

No Kubernetes or Argo can run on the machines of this project, so the Argo engine is proven
against an emulation that follows Argo's own source (tags v3.7.18 and v4.1.2; each rule cites
its file beside it). It is never offered to users as an engine.

- :mod:`conformance.pod` runs ONE pod of a template as Argo's executor does (init container:
  artifacts loaded, script staged; main container under the emissary: a private mount
  namespace with an overlay root, ``/tmp`` a per-pod sandbox, the image's Python from pyenv;
  wait container: output parameters and artifacts collected and saved to S3).
- The controller half walks a manifest as Argo's controller does and produces ``status.nodes``
  in Argo's shape, handing each pod to :func:`conformance.pod.run_pod`.
"""
