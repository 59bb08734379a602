//! Plain scalar kernels: the reference every SIMD kernel is tested against, and the fallback on
//! CPUs without a faster path.

/// Squared Euclidean distance over `min(a.len(), b.len())` components.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Dot product over `min(a.len(), b.len())` components.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Inner-product distance `1 − Σ aᵢ·bᵢ` over `min(a.len(), b.len())` components.
pub fn ip_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}
