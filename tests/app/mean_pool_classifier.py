"""What `oft train` builds for sequence_classification, as a PyTorch module for PEFT: the encoder, masked mean
pooling over the tokens, and a linear head named "classifier" (the name oft saves it under). Shared by the
interop test and the training benchmark against PEFT."""

import torch


class MeanPoolClassifier(torch.nn.Module):
    def __init__(self, encoder, labels):
        super().__init__()
        self.bert = encoder
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, labels)

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.classifier((hidden * m).sum(1) / m.sum(1).clamp_min(1e-9))
