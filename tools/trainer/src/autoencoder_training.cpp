#include "spindle/trainer/autoencoder_training.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace spindle::trainer {
namespace {

using Matrix = Eigen::MatrixXf;  // column-major; one column per window
using Vector = Eigen::VectorXf;

struct Layer {
  Matrix w;  // out x in
  Vector b;  // out
};

// Adam's state for one layer.
struct Moments {
  Matrix mw, vw;
  Vector mb, vb;
};

// Standardized windows as columns.
Matrix columns(const FeatureTable& table, const modelkit::Standardization& s) {
  Matrix m(static_cast<Eigen::Index>(table.width), static_cast<Eigen::Index>(table.rows()));
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::vector<float> z =
        modelkit::standardized(s, std::span<const float>(table.row(r), table.width));
    for (std::size_t f = 0; f < table.width; ++f)
      m(static_cast<Eigen::Index>(f), static_cast<Eigen::Index>(r)) = z[f];
  }
  return m;
}

// Activations of every layer for a batch: acts[0] = x, acts[l + 1] = layer l's output
// (after ReLU except for the last).
void forward(const std::vector<Layer>& layers, const Matrix& x, std::vector<Matrix>& acts) {
  acts.resize(layers.size() + 1);
  acts[0] = x;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    acts[l + 1] = (layers[l].w * acts[l]).colwise() + layers[l].b;
    if (l + 1 < layers.size()) acts[l + 1] = acts[l + 1].cwiseMax(0.0f);
  }
}

float loss_of(const std::vector<Layer>& layers, const Matrix& x) {
  std::vector<Matrix> acts;
  float sum = 0.0f;
  constexpr Eigen::Index kChunk = 4096;
  for (Eigen::Index start = 0; start < x.cols(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, x.cols() - start);
    const Matrix part = x.middleCols(start, n);
    forward(layers, part, acts);
    sum += (acts.back() - part).squaredNorm();
  }
  return sum / static_cast<float>(x.size());
}

}  // namespace

TrainedAutoencoder train_autoencoder(const FeatureTable& train, const FeatureTable& validation,
                                     const modelkit::Standardization& standardization,
                                     const AutoencoderOptions& options) {
  if (train.rows() == 0 || validation.rows() == 0) {
    throw std::invalid_argument("training needs at least one training and one validation window");
  }
  if (train.width != validation.width) throw std::invalid_argument("feature widths differ");
  std::vector<std::size_t> widths{train.width};
  widths.insert(widths.end(), options.hidden.begin(), options.hidden.end());
  widths.push_back(train.width);
  if (const auto problem = modelkit::shape_problem(widths); !problem.empty()) {
    throw std::invalid_argument("hidden widths: " + std::string(problem));
  }
  if (options.batch == 0 || options.max_epochs == 0) {
    throw std::invalid_argument("batch and epochs must be at least 1");
  }

  const Matrix x_train = columns(train, standardization);
  const Matrix x_val = columns(validation, standardization);

  std::mt19937 rng(options.seed);
  std::vector<Layer> layers;
  std::vector<Moments> moments;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const auto in = static_cast<Eigen::Index>(widths[l]);
    const auto out = static_cast<Eigen::Index>(widths[l + 1]);
    // He-uniform for the ReLU layers (Glorot for the linear output would be close enough).
    std::uniform_real_distribution<float> weight(-std::sqrt(6.0f / static_cast<float>(in)),
                                                 std::sqrt(6.0f / static_cast<float>(in)));
    Layer layer{Matrix(out, in), Vector::Zero(out)};
    for (Eigen::Index c = 0; c < in; ++c)
      for (Eigen::Index r = 0; r < out; ++r)
        layer.w(r, c) = weight(rng);
    layers.push_back(layer);
    moments.push_back(
        {Matrix::Zero(out, in), Matrix::Zero(out, in), Vector::Zero(out), Vector::Zero(out)});
  }

  TrainedAutoencoder result;
  std::vector<Layer> best = layers;
  result.best_validation_loss = loss_of(layers, x_val);
  std::size_t since_best = 0;
  std::vector<std::size_t> order(static_cast<std::size_t>(x_train.cols()));
  std::iota(order.begin(), order.end(), std::size_t{0});
  constexpr float kBeta1 = 0.9f;
  constexpr float kBeta2 = 0.999f;
  constexpr float kEpsilon = 1e-8f;
  std::size_t step = 0;
  std::vector<Matrix> acts;
  std::vector<Matrix> grads_w(layers.size());
  std::vector<Vector> grads_b(layers.size());

  for (std::size_t epoch = 1; epoch <= options.max_epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double train_sum = 0.0;
    for (std::size_t start = 0; start < order.size(); start += options.batch) {
      const std::size_t n = std::min(options.batch, order.size() - start);
      Matrix x(x_train.rows(), static_cast<Eigen::Index>(n));
      for (std::size_t i = 0; i < n; ++i)
        x.col(static_cast<Eigen::Index>(i)) =
            x_train.col(static_cast<Eigen::Index>(order[start + i]));
      forward(layers, x, acts);
      train_sum += static_cast<double>((acts.back() - x).squaredNorm());
      // d(mean squared error)/d(output)
      Matrix delta = (acts.back() - x) * (2.0f / static_cast<float>(x.size()));
      for (std::size_t l = layers.size(); l-- > 0;) {
        grads_w[l] = delta * acts[l].transpose() + options.weight_decay * layers[l].w;
        grads_b[l] = delta.rowwise().sum();
        if (l > 0) {
          delta = (layers[l].w.transpose() * delta)
                      .cwiseProduct((acts[l].array() > 0.0f).cast<float>().matrix());
        }
      }
      ++step;
      const float correction1 = 1.0f - std::pow(kBeta1, static_cast<float>(step));
      const float correction2 = 1.0f - std::pow(kBeta2, static_cast<float>(step));
      const float rate = options.learning_rate * std::sqrt(correction2) / correction1;
      for (std::size_t l = 0; l < layers.size(); ++l) {
        Moments& m = moments[l];
        m.mw = kBeta1 * m.mw + (1.0f - kBeta1) * grads_w[l];
        m.vw = kBeta2 * m.vw + (1.0f - kBeta2) * grads_w[l].cwiseAbs2();
        m.mb = kBeta1 * m.mb + (1.0f - kBeta1) * grads_b[l];
        m.vb = kBeta2 * m.vb + (1.0f - kBeta2) * grads_b[l].cwiseAbs2();
        layers[l].w.array() -= rate * m.mw.array() / (m.vw.array().sqrt() + kEpsilon);
        layers[l].b.array() -= rate * m.mb.array() / (m.vb.array().sqrt() + kEpsilon);
      }
    }
    const float validation_loss = loss_of(layers, x_val);
    result.history.push_back({epoch,
                              static_cast<float>(train_sum / static_cast<double>(x_train.size())),
                              validation_loss});
    // An improvement must be real (0.1 %), or noise would keep training forever.
    if (validation_loss < result.best_validation_loss * 0.999f) {
      result.best_validation_loss = validation_loss;
      result.best_epoch = epoch;
      best = layers;
      since_best = 0;
    } else if (++since_best >= options.patience) {
      break;
    }
  }

  result.model.standardization = standardization;
  for (const Layer& layer : best) {
    modelkit::DenseLayer& dense = result.model.layers.emplace_back();
    dense.in = static_cast<std::size_t>(layer.w.cols());
    dense.out = static_cast<std::size_t>(layer.w.rows());
    dense.weights.resize(dense.in * dense.out);
    for (std::size_t r = 0; r < dense.out; ++r)
      for (std::size_t c = 0; c < dense.in; ++c)
        dense.weights[r * dense.in + c] =
            layer.w(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
    dense.bias.assign(layer.b.data(), layer.b.data() + layer.b.size());
  }
  return result;
}

}  // namespace spindle::trainer
