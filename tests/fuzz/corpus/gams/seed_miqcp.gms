Variables objvar, x1, x2, x3;
Binary Variables b1, b2;
Equations e1, e2, e3;
e1.. objvar =E= 2*x1*x2 - 3*sqr(x3) + b1*b2 + 0.5*x1 - (x2 - 1);
e2.. x1 + x2 + b1 =L= 3;
e3.. -x3 + 2*b2 =G= -1.5;
x1.lo = -1; x1.up = 2; x2.fx = 0.5; x3.lo = -2; x3.up = 4; x3.l = 1;
Model m / all /;
Solve m using MIQCP minimizing objvar;
