"""Set the Hugging Face offline flags before anything imports ``transformers`` or ``huggingface_hub``."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
