"""A Siamese network (Bromley et al. 1993; Koch et al. 2015) over any zoo backbone.

Both inputs go through the *same* backbone (shared weights), whose classifier
head is replaced by a linear projection to an ``embedding_dim`` embedding. The
embeddings are L2-normalised and their cosine similarity is the score.

Outputs: ``(embedding_a, embedding_b, similarity)``.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class SiameseNet(nn.Module):
    def __init__(self, backbone: nn.Module, backbone_heads: tuple[str, ...]):
        super().__init__()
        self.backbone = backbone
        self.backbone_heads = backbone_heads

    def reset_classifier(self, embedding_dim: int) -> None:
        from ..heads import replace_head

        replace_head(self.backbone, self.backbone_heads, embedding_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x).flatten(1), dim=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor):
        emb_a, emb_b = self.embed(a), self.embed(b)
        return emb_a, emb_b, (emb_a * emb_b).sum(dim=1)
