"""The sentiment model's training side: the recipe, distillation from the pretrained wheel,
calibration, corpora and dev-set scoring (the model card).

    python -m nlp.training.train        (= make model) retrain into nlp/model/
    python -m nlp.training.distil       a 12-layer bank teacher distilled into var/train/distilled (tried)
    python -m nlp.training.calibrate    fit nlp/model/calibration.json
    python -m nlp.training.model_card   re-render nlp/model/MODEL_CARD.md from its metrics.json

Nothing at run time imports this package (tests/nlp/test_runtime_imports.py checks it): the runtime
reads only what it wrote into nlp/model/. Tests and bench scripts may import it.
"""
