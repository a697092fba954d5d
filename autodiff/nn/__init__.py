"""Layers, activation and loss modules, and initialisers (torch.nn)."""
from . import functional, init, utils
from .modules import (
    Module, Parameter, Linear, Sequential, Flatten, Identity, Dropout,
    Dropout1d, Dropout2d,
    Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU, GELU, SiLU, Softplus, Softmax,
    LogSoftmax, Hardtanh, ReLU6, Hardsigmoid, Hardswish, Mish, LogSigmoid,
    Softsign, Tanhshrink, CELU, PReLU,
    MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss,
    HuberLoss, SmoothL1Loss, KLDivLoss, PoissonNLLLoss, GaussianNLLLoss,
    CosineEmbeddingLoss, MarginRankingLoss, HingeEmbeddingLoss,
    SoftMarginLoss, MultiMarginLoss, TripletMarginLoss, CosineSimilarity,
    PairwiseDistance,
)
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d,
                      AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d, Upsample, UpsamplingNearest2d,
                      UpsamplingBilinear2d)
from .sparse import Embedding, EmbeddingBag
from .normalization import (LayerNorm, GroupNorm, RMSNorm, BatchNorm1d,
                            BatchNorm2d)
from .transformer import (ModuleList, MultiheadAttention,
                          TransformerEncoderLayer, TransformerEncoder,
                          TransformerDecoderLayer, TransformerDecoder)
from .rnn import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from .container import ModuleDict, ParameterList, ParameterDict
from .summary import summary

__all__ = [
    "functional", "init", "Module", "Parameter", "Linear", "Sequential",
    "Flatten", "Identity", "Dropout", "Dropout1d", "Dropout2d", "Sigmoid",
    "Tanh", "ReLU", "LeakyReLU",
    "ELU", "SELU", "GELU", "SiLU", "Softplus", "Softmax", "LogSoftmax",
    "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Mish", "LogSigmoid",
    "Softsign", "Tanhshrink", "CELU", "PReLU",
    "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
    "NLLLoss", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "Embedding", "EmbeddingBag",
    "LayerNorm", "GroupNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d",
    "ModuleList", "MultiheadAttention", "TransformerEncoderLayer",
    "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "utils",
    "ModuleDict", "ParameterList", "ParameterDict", "summary",
    "HuberLoss", "SmoothL1Loss", "KLDivLoss", "PoissonNLLLoss",
    "GaussianNLLLoss", "CosineEmbeddingLoss", "MarginRankingLoss",
    "HingeEmbeddingLoss", "SoftMarginLoss", "MultiMarginLoss",
    "TripletMarginLoss", "CosineSimilarity", "PairwiseDistance"]
