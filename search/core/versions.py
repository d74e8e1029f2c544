"""`bridge-search --version`: this tool's version and those of the libraries it
drives, read from the installed packages' metadata, so TensorFlow is not
imported (seconds) to say which TensorFlow it is."""

from importlib import metadata

# (label, distributions that provide it, first installed wins)
PACKAGES = (("bridge-search", ("bridge-search",)),
            ("TensorFlow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")),
            ("Keras", ("keras",)),
            ("keras-tuner", ("keras-tuner",)),
            ("MLflow", ("mlflow", "mlflow-skinny")))


def installed_version(distributions):
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def version_text():
    """`bridge-search 0.1.0` then one line per library: `  TensorFlow 2.21.0`."""
    (label, names), *libraries = PACKAGES
    return "\n".join([f"{label} {installed_version(names)}",
                      *(f"  {label} {installed_version(names)}" for label, names in libraries)])
