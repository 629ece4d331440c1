//! Network coordinates: `/v1/coordinate/*` and `Coord` of `agent/self`.

use serde::{Deserialize, Serialize};

use crate::serde_util::null_default;

/// A Vivaldi network coordinate, in Consul's field order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coord {
    /// Position in Euclidean space (8 dimensions in Consul).
    #[serde(rename = "Vec", default, deserialize_with = "null_default")]
    pub vec: Vec<f64>,
    /// Confidence in the position.
    #[serde(rename = "Error", default)]
    pub error: f64,
    /// Distance offset, seconds.
    #[serde(rename = "Adjustment", default)]
    pub adjustment: f64,
    /// Distance offset from the Euclidean space, seconds.
    #[serde(rename = "Height", default)]
    pub height: f64,
}

impl Default for Coord {
    /// A new node's coordinate: the origin, error 1.5, minimum height.
    fn default() -> Self {
        Self {
            vec: vec![0.0; 8],
            error: 1.5,
            adjustment: 0.0,
            height: 1.0e-5,
        }
    }
}

impl Coord {
    /// Consul's `IsValid`: every component finite.
    pub fn is_valid(&self) -> bool {
        self.vec.iter().all(|v| v.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }
}

/// One node's coordinate (`/v1/coordinate/nodes` entries).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeCoordinate {
    /// Node name.
    #[serde(rename = "Node", default, deserialize_with = "null_default")]
    pub node: String,
    /// Network segment (`""` in OSS).
    #[serde(rename = "Segment", default, deserialize_with = "null_default")]
    pub segment: String,
    /// The coordinate.
    #[serde(rename = "Coord", default)]
    pub coord: Coord,
}
