"""Gradient descent on L(theta) = theta^2 - 4 theta + 4 from theta = 0.

L'(theta) = 2 theta - 4 vanishes at the minimum theta = 2; with learning
rate 0.1 each step shrinks the distance to 2 by a factor 0.8.
"""
import autodiff as ad


def main(lr=0.1, tol=1e-6, max_steps=1000, verbose=True):
    theta = ad.tensor(0.0, dtype=ad.float64, requires_grad=True)
    for step in range(1, max_steps + 1):
        loss = theta ** 2 - 4 * theta + 4
        theta.grad = None
        loss.backward()
        with ad.no_grad():
            theta.add_(theta.grad, alpha=-lr)
        if verbose and (step <= 3 or step % 10 == 0):
            print("step %3d  theta = %.8f  L = %.3e  dL/dtheta = %+.3e"
                  % (step, theta.item(), loss.item(), theta.grad.item()))
        if abs(theta.item() - 2.0) < tol:
            break
    if verbose:
        print("reached theta = %.8f after %d steps" % (theta.item(), step))
    return theta.item(), step


if __name__ == "__main__":
    main()
