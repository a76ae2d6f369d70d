"""The peer of benches/benches/mlp_train.rs in PyTorch: an MLP 64 -> 512 -> 512 -> 1 (ReLU),
BCE-with-logits, AdamW (lr 1e-3, weight decay 1e-4), batch 4096, 2 threads, shuffled
mini-batches over synthetic rows. Prints steady-state samples/s (the median over the epochs
after the first).

    python benches/peers/torch_mlp.py [ROWS] [EPOCHS]
"""

import sys
import time

import torch

N_INPUTS = 64


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 262_144
    epochs = max(int(sys.argv[2]) if len(sys.argv) > 2 else 4, 2)
    torch.set_num_threads(2)
    torch.manual_seed(1)
    x = torch.randn(rows, N_INPUTS)
    y = ((x[:, 0] - x[:, 1] + x[:, 2] * x[:, 3] + 0.3 * torch.randn(rows)) > 0).float().unsqueeze(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(N_INPUTS, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 1),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rates = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(rows)
        total = 0.0
        for begin in range(0, rows, 4096):
            idx = order[begin:begin + 4096]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item()
        seconds = time.perf_counter() - start
        rates.append(rows / seconds)
        print(f"epoch {epoch}: {rows / seconds:.0f} samples/s ({seconds:.2f} s), train loss {total / (rows // 4096):.4f}")
    steady = sorted(rates[1:])
    print(f"mlp_train/cpu/bs4096: torch {steady[len(steady) // 2]:.0f} samples/s "
          f"(median of epochs 2..{epochs}, {rows} rows, 2 threads)")


if __name__ == "__main__":
    main()
