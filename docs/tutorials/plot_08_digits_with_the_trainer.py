"""
Training an MLP and a CNN on digits with the Trainer
====================================================

scikit-learn ships 1,797 images of handwritten digits, 8×8 pixels each
(``load_digits`` reads them from the package: no download).  A quarter is
held out; ``ad.Trainer`` runs the loop: batches, the compiled training
step, validation after each epoch and the metrics.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import autodiff as ad
from autodiff import nn, optim

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                      stratify=y)
print(Xtr.shape, Xte.shape)

fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, img, label in zip(axes, Xtr, ytr):
    ax.imshow(img.reshape(8, 8), cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")

# %%
# A multilayer perceptron
# -----------------------
# 64 → 128 → 10 with ReLU, cross-entropy loss, Adam, 10 epochs of batches
# of 32.  ``seed`` fixes the shuffling, ``ad.manual_seed`` the initial
# weights, so the run prints the same numbers every time.

ad.manual_seed(0)
mlp = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
trainer = ad.Trainer(mlp, nn.CrossEntropyLoss(),
                     optim.Adam(mlp.parameters(), lr=3e-3))
history = trainer.fit(Xtr, ytr, epochs=10, batch_size=32, seed=0,
                      validation_data=(Xte, yte), verbose=0)
print("MLP held-out accuracy: %.3f" % history["val_accuracy"][-1])
assert history["val_accuracy"][-1] > 0.95
fig = history.plot()

# %%
# A convolutional network
# -----------------------
# Two 3×3 convolutions with batch norm, max pooling, dropout and two linear
# layers, on the images as (N, 1, 8, 8).  Five epochs.

ad.manual_seed(0)
cnn = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
    nn.MaxPool2d(2),                                  # 32 x 4 x 4
    nn.Dropout(0.25),
    nn.Flatten(), nn.Linear(32 * 4 * 4, 128), nn.ReLU(),
    nn.Linear(128, 10))
trainer = ad.Trainer(cnn, nn.CrossEntropyLoss(),
                     optim.Adam(cnn.parameters(), lr=2e-3))
Itr, Ite = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
history = trainer.fit(Itr, ytr, epochs=5, batch_size=32, seed=0,
                      validation_data=(Ite, yte), verbose=0)
acc = trainer.evaluate(Ite, yte)["accuracy"]
print("CNN held-out accuracy: %.3f" % acc)
assert acc > 0.95

# %%
# The mistakes
# ------------
# ``predict`` returns the network's outputs (logits) for the held-out
# images; the images it gets wrong are shown with the predicted and the
# true label.

pred = trainer.predict(Ite).argmax(axis=1)
wrong = np.flatnonzero(pred != yte)
print("%d of %d held-out images misclassified" % (len(wrong), len(yte)))
assert len(wrong) == round((1 - acc) * len(yte))
fig, axes = plt.subplots(1, 8, figsize=(8, 1.5))
for ax, i in zip(axes, wrong[:8]):
    ax.imshow(Xte[i].reshape(8, 8), cmap="gray_r")
    ax.set_title("%d (%d)" % (pred[i], yte[i]), fontsize=9)
for ax in axes:
    ax.axis("off")
