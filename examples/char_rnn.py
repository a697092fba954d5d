"""A character-level LSTM language model on a small generated text.

The text comes from a tiny grammar (subjects, verbs, places, a few
hundred sentences), so the example needs no download.  An embedding, an
LSTM and a linear layer predict each next character; a training
step is compiled with ad.compile.  Prints the training loss falling, the
held-out cross-entropy (nats per character) beside the unigram baseline,
and a sample drawn from the model.
"""
import time

import numpy as np

import autodiff as ad
from autodiff import nn, optim

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the old man",
            "a small child", "the teacher", "her brother"]
VERBS = ["sat", "ran", "slept", "sang", "waited", "read a book",
         "looked around", "found a coin"]
PLACES = ["on the mat", "in the park", "by the river", "under the tree",
          "at the station", "near the house", "in the garden",
          "on the hill"]
TIMES = ["today", "yesterday", "at noon", "in the morning", "all night"]


def make_text(n_sentences, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sentences):
        s = "%s %s %s" % (SUBJECTS[rng.integers(len(SUBJECTS))],
                          VERBS[rng.integers(len(VERBS))],
                          PLACES[rng.integers(len(PLACES))])
        if rng.random() < 0.5:
            s += " " + TIMES[rng.integers(len(TIMES))]
        out.append(s + ". ")
    return "".join(out)


class CharLM(nn.Module):
    def __init__(self, vocab, emb=16, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.lstm(self.embed(idx), state)
        return self.head(out), state


def batches(data, seq, batch, rng):
    starts = rng.integers(0, len(data) - seq - 1, batch)
    x = np.stack([data[s:s + seq] for s in starts])
    y = np.stack([data[s + 1:s + seq + 1] for s in starts])
    return x, y


def sample(model, chars, start, n, rng, temperature=0.6):
    stoi = {c: i for i, c in enumerate(chars)}
    state = None
    out = list(start)
    idx = np.array([[stoi[c] for c in start]], dtype=np.int64)
    with ad.no_grad():
        for _ in range(n):
            logits, state = model(idx, state)
            z = logits.numpy()[0, -1] / temperature
            p = np.exp(z - z.max())
            p /= p.sum()
            nxt = int(rng.choice(len(chars), p=p))
            out.append(chars[nxt])
            idx = np.array([[nxt]], dtype=np.int64)
    return "".join(out)


def main(steps=150, seq=32, batch=32, lr=2e-2, seed=0, verbose=1):
    t0 = time.perf_counter()
    train_text = make_text(600, seed)
    test_text = make_text(60, seed + 1)
    chars = sorted(set(train_text) | set(test_text))
    stoi = {c: i for i, c in enumerate(chars)}
    train = np.array([stoi[c] for c in train_text], dtype=np.int64)
    test = np.array([stoi[c] for c in test_text], dtype=np.int64)
    V = len(chars)

    ad.manual_seed(seed)
    model = CharLM(V)
    opt = optim.Adam(model.parameters(), lr=lr)
    ce = nn.CrossEntropyLoss()

    def step(x, y):
        # y: the flat (batch * seq,) next characters
        logits, _ = model(x)
        loss = ce(logits.reshape(-1, V), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    train_step = ad.compile(step)
    rng = np.random.default_rng(seed)
    losses = []
    for i in range(steps):
        x, y = batches(train, seq, batch, rng)
        losses.append(float(train_step(x, y.reshape(-1))))
        if verbose and (i % 25 == 0 or i == steps - 1):
            print("step %3d  training loss %.3f" % (i, losses[-1]))

    model.eval()
    with ad.no_grad():
        logits, _ = model(test[None, :-1])
        held_out = float(ce(logits.reshape(-1, V), test[1:]))
    freq = np.bincount(train, minlength=V) / len(train)
    unigram = float(-np.mean(np.log(freq[test[1:]])))
    text = sample(model, chars, "the ", 120, np.random.default_rng(seed))
    total = time.perf_counter() - t0
    if verbose:
        print("held-out cross-entropy %.3f nats/char (unigram baseline "
              "%.3f)" % (held_out, unigram))
        print("sample: %r" % text)
        print("total %.2f s" % total)
    return {"losses": losses, "held_out": held_out, "unigram": unigram,
            "sample": text, "seconds": total}


if __name__ == "__main__":
    main()
