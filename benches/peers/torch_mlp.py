"""The peer of benches/benches/mlp_train.rs in PyTorch: an MLP 64 -> 512 -> 512 -> 1 (ReLU),
BCE-with-logits, AdamW (lr 1e-3, weight decay 1e-4), batch 4096, 2 threads, shuffled
mini-batches over synthetic rows. Prints steady-state samples/s (the median over the epochs
after the first).

--device cuda runs on the GPU (data on the device, eager mode, the loss summed on the device
and read once per epoch); --precision bf16 adds autocast to bfloat16 (matrix products in bf16,
weights and optimizer in f32), PyTorch's usual mixed precision.

    python benches/peers/torch_mlp.py [ROWS] [EPOCHS] [--device cpu|cuda] [--precision f32|bf16]
"""

import argparse
import contextlib
import time

import torch

N_INPUTS = 64


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=262_144)
    parser.add_argument("epochs", nargs="?", type=int, default=4)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    args = parser.parse_args()
    rows, epochs, device = args.rows, max(args.epochs, 2), args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no GPU")
    if device == "cpu":
        torch.set_num_threads(2)
    torch.manual_seed(1)
    x = torch.randn(rows, N_INPUTS)
    y = ((x[:, 0] - x[:, 1] + x[:, 2] * x[:, 3] + 0.3 * torch.randn(rows)) > 0).float().unsqueeze(1)
    x, y = x.to(device), y.to(device)
    model = torch.nn.Sequential(
        torch.nn.Linear(N_INPUTS, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 1),
    ).to(device)
    autocast = (torch.autocast(device_type=device, dtype=torch.bfloat16) if args.precision == "bf16"
                else contextlib.nullcontext())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rates = []
    for epoch in range(1, epochs + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        order = torch.randperm(rows, device=device)
        total = torch.zeros((), device=device) if device == "cuda" else 0.0
        for begin in range(0, rows, 4096):
            idx = order[begin:begin + 4096]
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = loss_fn(model(x[idx]).float(), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach() if device == "cuda" else loss.item()
        total = float(total)
        seconds = time.perf_counter() - start
        rates.append(rows / seconds)
        print(f"epoch {epoch}: {rows / seconds:.0f} samples/s ({seconds:.2f} s), train loss {total / (rows // 4096):.4f}")
    steady = sorted(rates[1:])
    where = "2 threads" if device == "cpu" else torch.cuda.get_device_name()
    print(f"mlp_train/{device}/bs4096/{args.precision}: torch {steady[len(steady) // 2]:.0f} samples/s "
          f"(median of epochs 2..{epochs}, {rows} rows, {where})")


if __name__ == "__main__":
    main()
