"""The Spark side of Zygarde: everything one Dataproc batch needs to train and score one trial.

Imports only the standard library, pyspark, numpy and Zygarde's stdlib-only domain modules, so the
package can ship to a batch inside the core zip (--py-files).
"""
