"""Built-in exporters: `nn-tilde` (TorchScript for Max/MSP and Pd nn~) and `weights`
(state_dict + JSON configuration, loaded with torch.load(weights_only=True)).

An exporter is a callable (model, family_name, dest_path, provenance_dict) -> [paths];
torch is imported only when it runs.
"""

from rehearsal.plugins import hookimpl


def nn_tilde(model, family, dest, provenance):
    from rehearsal.training.export import export_nn_tilde

    return export_nn_tilde(model, family, dest, provenance)


def weights(model, family, dest, provenance):
    from rehearsal.training.export import export_weights

    return export_weights(model, family, dest, provenance)


@hookimpl
def register_exporters(register):
    register("nn-tilde", nn_tilde)
    register("weights", weights)
