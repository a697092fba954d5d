# Everyday tensor idioms: masks, where, cat/stack, view, size, item,
# numpy, dtype conversions, comparisons, reductions with dim=.
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.tensor([[1.5, -2.0, 3.0], [-0.5, 4.0, -1.0]], dtype=torch.float32)
out = {}
out["positive"] = x[x > 0].tolist()
out["where"] = torch.where(x > 0, x, torch.zeros_like(x)).tolist()
out["relu_eq"] = torch.equal(torch.where(x > 0, x, torch.zeros_like(x)),
                             x.clamp(min=0))
out["cat0"] = torch.cat([x, x * 2], dim=0).size(0)
out["cat1"] = list(torch.cat((x, x), 1).shape)
out["stack"] = list(torch.stack([x, x]).size())
out["view"] = x.view(-1, 2).tolist()
out["view1"] = x.view(-1).tolist()
out["numel"] = torch.numel(x) + x.numel()
out["is_tensor"] = [torch.is_tensor(x), torch.is_tensor(x.numpy())]
out["allclose"] = torch.allclose(x, x + 1e-9)
out["mean_dim0"] = x.mean(dim=0).tolist()
out["sum_dim1_keep"] = x.sum(dim=1, keepdim=True).tolist()
out["max_dim1"] = [t.tolist() for t in torch.max(x, 1)]
out["argmax"] = x.argmax(dim=1).tolist()
out["softmax"] = F.softmax(x, dim=1).tolist()
out["log_softmax"] = F.log_softmax(x, dim=0).tolist()
out["sigmoid"] = torch.sigmoid(x).tolist()
out["exp_sum"] = torch.exp(x).sum().item()
out["pow"] = torch.pow(x, 2).tolist()
out["ones_long"] = torch.ones(3, dtype=torch.long).tolist()
out["long_dtype"] = str(torch.ones(2, dtype=torch.long).dtype) == str(torch.int64)
out["float_dtype"] = torch.zeros(2, dtype=torch.float).dtype == torch.float32
out["labels"] = (torch.tensor([0, 2, 1]) == torch.tensor([0, 1, 1])).sum().item()
out["arange_float"] = torch.arange(5).float().div(2).tolist()
out["numpy_type"] = type(x.numpy()).__name__
out["item_type"] = type(x[0, 0].item()).__name__
out["unsqueeze"] = list(x.unsqueeze(0).shape)
out["transpose"] = x.t().contiguous().view(-1).tolist()
out["permute"] = list(x.unsqueeze(2).permute(2, 0, 1).shape)
out["squeeze"] = list(torch.ones(1, 3, 1).squeeze().shape)
out["index_count"] = None
counts = torch.zeros(3, dtype=torch.long)
for label in [0, 2, 2, 1, 2]:
    counts[label] += 1
out["index_count"] = counts.tolist()
y = x.clone()
y[0] = 0
y[:, 1] *= 10
out["setitem"] = y.tolist()
out["fill_diag"] = torch.eye(3).mul(2).add(1).tolist()
out["from_numpy_dtype"] = torch.from_numpy(np.zeros(2)).dtype == torch.float64
out["mm"] = x.mm(x.t()).tolist()
out["matmul"] = (x @ x.T).sum().item()
out["abs_max"] = x.abs().max().item()
out["cumsum"] = torch.cumsum(x, dim=1).tolist()
print(out)
results = out
