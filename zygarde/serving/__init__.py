"""Online scoring of a packaged model's ONNX export: no Spark, no JVM (numpy and onnxruntime only)."""
