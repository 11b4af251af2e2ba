"""Frozen-encoder baseline for this data set: all-MiniLM-L6-v2, attention-masked mean pooling,
L2-normalised, then a logistic-regression head (L2 strength picked by 5-fold cross-validation on
train only) evaluated once on test. It is the number an OFT fine-tune has to beat.

  .venv/bin/python data/review_sentiment/frozen_baseline.py "$(bash scripts/fetch_minilm.sh)"
"""
import json
import pathlib
import sys

import torch
import transformers

here = pathlib.Path(__file__).resolve().parent
model_dir = sys.argv[1]


def load(split):
    rows = [json.loads(line) for line in open(here / f"{split}.jsonl")]
    return [r["text"] for r in rows], torch.tensor([r["label"] for r in rows])


tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
encoder = transformers.AutoModel.from_pretrained(model_dir).eval()


@torch.no_grad()
def embed(texts):
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)


def fit(x, y, l2, classes):
    torch.manual_seed(0)
    head = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=500)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(x), y) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


def accuracy(head, x, y):
    with torch.no_grad():
        return (head(x).argmax(1) == y).float().mean().item()


classes = len(json.load(open(here / "labels.json")))
train_text, y_train = load("train")
test_text, y_test = load("test")
x_train, x_test = embed(train_text), embed(test_text)

folds = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(0)).chunk(5)
best = None
for l2 in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
    scores = []
    for k, held in enumerate(folds):
        keep = torch.cat([f for j, f in enumerate(folds) if j != k])
        scores.append(accuracy(fit(x_train[keep], y_train[keep], l2, classes), x_train[held], y_train[held]))
    cv = sum(scores) / len(scores)
    print(f"l2={l2:g}: 5-fold CV accuracy on train {cv:.3f}")
    if best is None or cv > best[1]:
        best = (l2, cv)

head = fit(x_train, y_train, best[0], classes)
print(f"chosen l2={best[0]:g}; train accuracy {accuracy(head, x_train, y_train):.3f}, "
      f"test accuracy {accuracy(head, x_test, y_test):.3f} ({len(y_test)} sentences)")
print(f"torch {torch.__version__}, transformers {transformers.__version__}")
