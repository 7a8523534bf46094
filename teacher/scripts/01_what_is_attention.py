from author import answer, check, code, md

CELLS = [
    md("""
        # 01 · What is attention?

        **Goal.** By the end of this notebook you can say, and compute, what an attention layer does:
        it answers a *query* with a weighted average of *values*, where the weights come from how well
        the query matches each value's *key*. You will move a query and watch the weights follow it,
        compare three ways of scoring a match, and measure why Transformers divide their scores by
        $\\sqrt{d}$.

        Run the cells from top to bottom (Shift+Enter). Cells marked *Exercise* are yours; the cell
        after each one checks your answer and tells you what to fix.
    """),
    code("""
        import math

        import matplotlib.pyplot as plt
        import numpy as np
        import torch

        import attnwidgets as aw
        from attnwidgets.course import pooling
    """),
    md("""
        ## 1. A weighted average that decides where to look

        Here is a noisy data set: 40 points $(x_i, y_i)$ scattered around a curve. We want to predict
        $y$ at a new position $q$. Call $q$ the **query**, each $x_i$ a **key** and each $y_i$ its
        **value**. The simplest sensible prediction is a weighted average of the values, with large
        weights for keys close to the query:

        $$f(q) = \\sum_i \\alpha(q, x_i)\\, y_i, \\qquad \\alpha(q, x_i) = \\operatorname{softmax}_i\\!\\left(-\\frac{(q - x_i)^2}{2 w^2}\\right)$$

        The softmax makes the weights positive and sum to 1. This is Nadaraya-Watson kernel
        regression (1964), and it already is attention: a score for each key, a softmax, a weighted
        sum of values. The width $w$ sets how selective the focus is.
    """),
    code("""
        keys, values = pooling.make_regression(n=40, seed=0)
        prediction, weights = pooling.nadaraya_watson(2.5, keys, values, width=0.5)
        print(f"{len(keys)} (key, value) pairs; weights for the query 2.5: shape {weights.shape}, sum {weights.sum():.3f}")
        print(f"prediction at 2.5: {prediction[0]:.3f}   (the true curve there: {pooling.true_function(2.5):.3f})")
    """),
    md("""
        ### Predict first

        Before you touch the sliders: what happens to the prediction at the query when the width
        becomes very small? Commit to a guess; the sliders appear after you lock it in.
    """),
    code("""
        explorer = pooling.pooling_explorer(keys, values)
        aw.Predict(
            "As the width shrinks towards 0, the prediction at the query becomes...",
            ["the average of all the values", "the value of the nearest key", "zero"],
            answer="the value of the nearest key",
            reveal=explorer,
            explain="With a tiny width the nearest key's score dwarfs all the others, so the softmax gives it almost all the weight: "
                    "the curve turns into steps through the noisy points. Try it: drag the width to the left, then move the query.",
        )
    """),
    md("""
        Every query gets its own row of weights. Stack the rows for 20 queries and you get the
        **attention matrix**: queries down, keys across, each row summing to 1. Hover over a cell to
        read its weight; with a narrow width the bright band is thin (focused), with a wide one it
        smears out.
    """),
    code("""
        grid = np.linspace(0.2, 4.8, 20)
        aw.Heatmap(pooling.kernel_record(grid, keys, width=0.3), title="kernel attention, width 0.3: queries (rows) over keys (columns)")
    """),
    md("""
        **Is sharper focus better?** The seed note says attention helps because it *focuses*. Measure
        it: predict 500 fresh points from the same curve at several widths and compare the error. Too
        narrow copies the noise of single points; too wide averages the bump away.
    """),
    code("""
        test_x = np.linspace(0.1, 4.9, 500)
        test_y = pooling.true_function(test_x)
        widths = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0]
        errors, focus = [], []
        for w in widths:
            pred, wts = pooling.nadaraya_watson(test_x, keys, values, w)
            errors.append(np.mean((pred - test_y) ** 2))
            focus.append(pooling.entropy_bits(wts).mean())
        for w, e, h in zip(widths, errors, focus):
            print(f"width {w:5.2f}: mean squared error {e:.3f}, weight entropy {h:.2f} bits (uniform over 40 keys: {math.log2(40):.2f})")
        best_width = widths[int(np.argmin(errors))]
        print(f"best width: {best_width} (error {min(errors):.3f}); narrowest: error {errors[0]:.3f}; widest: error {errors[-1]:.3f}")
    """),
    md("""
        So focus helps only up to a point: the best width sits in the middle, and both the sharpest and
        the flattest weights predict worse. "Selective focus" is a knob, not a virtue in itself; a
        trained model has to learn where to set it.

        ### Exercise 1: attention weights by hand

        Write `kernel_weights(query, keys, width)` for **one** query: return a NumPy array with one
        weight per key, the softmax of $-(q - x_i)^2 / (2 w^2)$.
    """),
    answer("ex1", '''
        def kernel_weights(query, keys, width):
            """Gaussian-kernel attention weights of one query over an array of keys."""
            ### BEGIN SOLUTION
            scores = -((query - keys) ** 2) / (2 * width**2)
            e = np.exp(scores - scores.max())
            return e / e.sum()
            ### END SOLUTION
            raise NotImplementedError("write the body of kernel_weights above")
    '''),
    check("ex1", "pooling.check_kernel_weights(kernel_weights)", hidden="assert pooling.check_kernel_weights(kernel_weights)"),
    md("""
        ## 2. Queries, keys and values as learned projections

        In a Transformer the tokens themselves provide all three. Each token is a vector $x$ of
        `d_model` numbers; three learned matrices turn it into a query $q = x W_Q$, a key $k = x W_K$
        and a value $v = x W_V$. Every token then asks its question (query) of every token's label
        (key) and collects their content (value). The shapes are the whole story:
    """),
    code("""
        torch.manual_seed(0)
        n_tokens, d_model, d_head = 5, 16, 8
        x = torch.randn(n_tokens, d_model)                      # 5 tokens, 16 features each
        W_Q, W_K, W_V = (torch.randn(d_model, d_head) / math.sqrt(d_model) for _ in range(3))
        Q, K, V = x @ W_Q, x @ W_K, x @ W_V                     # each [5, 8]
        out, attn = pooling.attention(Q, K, V)                  # softmax(Q K^T / sqrt(d)) V
        print("x", tuple(x.shape), "-> Q, K, V", tuple(Q.shape), "-> weights", tuple(attn.shape), "-> output", tuple(out.shape))
        print("each row of the weights sums to 1:", torch.allclose(attn.sum(-1), torch.ones(n_tokens)))
    """),
    md("""
        The weights are a `[queries, keys]` matrix again, now between tokens. The package's views take
        any such matrix: here it is as a heat map (each row is one token's average over the others).
    """),
    code("""
        aw.Heatmap(attn.numpy(), query_tokens=[f"tok{i}" for i in range(n_tokens)], key_tokens=[f"tok{i}" for i in range(n_tokens)],
                   title="self-attention of 5 random tokens")
    """),
    md("""
        ## 3. Three ways to score a match

        The softmax turns *scores* into weights; what changes between attention variants is mostly
        the score:

        | name | score(q, k) | where |
        |---|---|---|
        | dot | $q \\cdot k$ | Luong et al. 2015 |
        | scaled dot | $q \\cdot k / \\sqrt{d}$ | Transformers (Vaswani et al. 2017) |
        | additive | $v^\\top \\tanh(W_q q + W_k k)$ | Bahdanau et al. 2015 (notebook 02) |

        Below, one query that sits near key `k3` is scored against ten keys by each function. Move the
        temperature: dividing the scores by a number above 1 flattens every distribution, below 1
        sharpens it. Notice that the plain dot product is already much sharper than the scaled one.
    """),
    code("""
        pooling.scoring_explorer(d=8)
    """),
    md("""
        ### Exercise 2: scaled dot-product scores

        Write `scaled_dot_scores(queries, keys)` for torch tensors `queries [Q, d]` and `keys [K, d]`.
        Return the `[Q, K]` matrix of scores **before** the softmax.
    """),
    answer("ex2", '''
        def scaled_dot_scores(queries, keys):
            """Scores q . k / sqrt(d) of every query against every key: [Q, K]."""
            ### BEGIN SOLUTION
            return queries @ keys.T / math.sqrt(queries.shape[-1])
            ### END SOLUTION
            raise NotImplementedError("write the body of scaled_dot_scores above")
    '''),
    check("ex2", "pooling.check_scaled_scores(scaled_dot_scores)", hidden="assert pooling.check_scaled_scores(scaled_dot_scores)"),
    md("""
        ## 4. Why divide by $\\sqrt{d}$? Measured

        Take queries and keys whose $d$ entries are random with variance 1. Their dot product is a sum
        of $d$ such products, so its spread grows like $\\sqrt{d}$. Large scores push the softmax to put
        nearly all the weight on one key, and then its gradient (how much the weights move when the
        scores move) vanishes: the layer stops learning. Dividing by $\\sqrt{d}$ keeps the spread at 1
        whatever $d$ is. Here are 500 random queries against 32 keys at each $d$:
    """),
    code("""
        scale = pooling.scale_experiment(dims=(4, 16, 64, 256, 1024), n_keys=32, trials=500)
        for i, d in enumerate(scale["dims"]):
            print(f"d={d:5d}  score spread {scale['score_std_raw'][i]:5.1f} -> {scale['score_std_scaled'][i]:.2f}   "
                  f"entropy {scale['entropy_raw'][i]:.2f} -> {scale['entropy_scaled'][i]:.2f} bits   "
                  f"largest weight {scale['max_raw'][i]:.2f} -> {scale['max_scaled'][i]:.2f}   "
                  f"gradient {scale['grad_raw'][i]:.3f} -> {scale['grad_scaled'][i]:.3f}")
        print(f"uniform attention over 32 keys would have {float(scale['uniform_bits']):.0f} bits")
    """),
    code("""
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
        for name, style in (("raw", "o-"), ("scaled", "s-")):
            label = "q·k" if name == "raw" else "q·k / √d"
            axes[0].semilogx(scale["dims"], scale[f"entropy_{name}"], style, base=2, label=label)
            axes[1].loglog(scale["dims"], scale[f"grad_{name}"], style, base=2, label=label)
        axes[0].axhline(float(scale["uniform_bits"]), color="0.6", ls=":", label="uniform")
        axes[0].set(xlabel="d (features per query/key)", ylabel="entropy of the weights (bits)", title="focus")
        axes[1].set(xlabel="d", ylabel="size of the softmax gradient", title="learning signal")
        for ax in axes:
            ax.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
    """),
    md("""
        Without the scale the weights collapse onto one key as $d$ grows and the gradient shrinks
        towards zero; with it, both stay put. So the $\\sqrt{d}$ is not a detail: at the widths real
        models use ($d$ = 64 per head) unscaled attention would start nearly one-hot and learn slowly.

        ### Exercise 3: scale as a temperature

        Dividing scores by $\\sqrt{d}$ is the same as a softmax *temperature*. At $d = 256$, which
        temperature $T$ in $\\operatorname{softmax}(q \\cdot k / T)$ makes unscaled dot-product
        attention behave exactly like scaled dot-product attention? Set `temperature` to a number.
    """),
    answer("ex3", """
        temperature = None
        ### BEGIN SOLUTION
        temperature = 16
        ### END SOLUTION
    """),
    check("ex3", "pooling.check_temperature(temperature)", hidden="assert pooling.check_temperature(temperature)"),
    md("""
        ## Summary

        - Attention answers a query with a weighted average of values; the weights are a softmax of
          query-key scores, positive and summing to 1. Kernel regression is attention with a fixed
          score.
        - How focused the weights are is a setting (a width, a temperature, a scale), and the best
          setting is neither the sharpest nor the flattest.
        - Dot, scaled-dot and additive scores differ in how sharp they are and in what they can learn.
        - Dividing by $\\sqrt{d}$ keeps the scores' spread at 1, so the weights neither collapse onto
          one key nor lose their gradient as $d$ grows.

        The numbers this notebook measured:
    """),
    code("""
        i256 = list(scale["dims"]).index(256)
        print(f"kernel regression: best width {best_width}, error {min(errors):.3f} vs {errors[0]:.3f} (narrowest) and {errors[-1]:.3f} (widest)")
        print(f"d = 256: entropy {scale['entropy_raw'][i256]:.2f} bits unscaled vs {scale['entropy_scaled'][i256]:.2f} scaled "
              f"(uniform {float(scale['uniform_bits']):.0f}); largest weight {scale['max_raw'][i256]:.2f} vs {scale['max_scaled'][i256]:.2f}; "
              f"gradient {scale['grad_raw'][i256]:.3f} vs {scale['grad_scaled'][i256]:.3f}")
    """),
    md("""
        Next: **02 · seq2seq alignment**, where a trained model learns its own scores and the weights
        line up output characters with the input characters they come from.
    """),
]
