#pragma once
// PyTorch weights into an eshift model: the names of a torchvision state dict mapped to eshift's,
// every tensor checked and copied.
//
// The ResNet family (resnet<6n+2>, resnet18/34/50/101/152, resnext…): eshift's
//   conv1, norm1, stages.<i>.{conv1,norm1,conv2,norm2,conv3,norm3,shortcut_conv,shortcut_norm}, fc
// are torchvision's
//   conv1, bn1,   layer<s>.<b>.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,downsample.1},     fc
// where <i> is the running block index over all stages and (s, b) its stage (from 1) and block in
// the stage; a stage starts at every block with a strided conv (read from the built model, so any
// depth works). The CIFAR ResNets have three stages, named the same way. Every other model is
// mapped by identity (its eshift names are torchvision's), except Mask R-CNN: its backbone's
// names as above under backbone.body., its pyramid under backbone.fpn., and its heads under
// torchvision's rpn.head, roi_heads.box_head, box_predictor, mask_head and mask_predictor
// (torchvision ≥ 0.13's names; only --wnorm none has torchvision's plain head convs).
//
// Weight families: none and WS take the weights as they are (WS standardizes them in its forward:
// the authors' WS checkpoints store raw conv weights). WN takes the weight as its direction and
// sets each gain to the norm of its filter, so the layer computes the imported conv. Centered WN
// cannot represent a conv whose filters do not sum to zero and is refused. BatchNorm's
// num_batches_tracked may be present or absent.
#include <string>

#include "eshift/interop/torch_state_dict.h"
#include "eshift/models/model.h"

namespace eshift {

// The state-dict name torchvision gives the parameter or buffer `name` of `model`.
std::string torchvision_name(const Model& model, const std::string& name);

// Copies `dict` into `model` (each tensor converted to its parameter's dtype and device). Nothing is
// copied unless every tensor fits: otherwise one CheckpointError lists every missing, unexpected
// and mis-shaped key, e.g. "FILE does not match resnet50: missing: fc.bias; unexpected:
// head.weight; shape: layer1.0.conv1.weight [64,64,1,1] vs eshift [64,64,3,3]" (in the file's
// names; long lists are cut, with a count). `source` names the file in messages. A CWN model is
// refused (std::invalid_argument naming --wnorm).
void import_state_dict(Model& model, const StateDict& dict, const std::string& source);

// read_torch_state_dict + import_state_dict.
void import_torch_file(Model& model, const std::string& path);

}  // namespace eshift
