"""Fine-tuning recipes (no code): spec.py (what a recipe asks for), plan.py (validated against the hub's model
and dataset before anything runs, then a job spec), run.py and recipes/ (what runs inside the job: transformers
Trainer, sentence-transformers, trl + peft), card.py (the model card of the result)."""
