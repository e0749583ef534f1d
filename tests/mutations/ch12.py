from . import Mutation

MUTATIONS = [
    Mutation(
        "minitorch_xf.nn.scan_attention",
        "scan_combine",
        "ca, cb = torch.exp(m_a - m_safe), torch.exp(m_b - m_safe)",
        "ca, cb = torch.exp(m_a - m_safe), torch.exp(m_a - m_safe)",
        "wrong rescaling of the second block",
        "check_scan_combine",
    ),
    Mutation(
        "minitorch_xf.nn.kernelized",
        "linear_attention_recurrent",
        "outs.append(num / (den + eps))",
        "outs.append(num)",
        "dropped normaliser of linear attention",
        "check_linear_recurrence",
    ),
    Mutation(
        "minitorch_xf.nn.kernelized",
        "linear_attention_recurrent",
        "den = (fq[..., i, :] * z).sum(-1, keepdim=True)",
        "den = z.sum(-1, keepdim=True)",
        "wrong normaliser (the key features' sum, without the query)",
        "check_linear_recurrence",
    ),
]
